"""Wiki sources: MediaWiki, Confluence."""
