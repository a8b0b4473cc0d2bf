"""Chat sources: Slack, Mattermost, Teams."""
