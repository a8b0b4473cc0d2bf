"""The Learning Record Store: what it takes from xAPI clients and how it checks it."""
