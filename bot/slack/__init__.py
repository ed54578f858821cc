"""The Slack surface: Bolt app, listeners, Block Kit views, Web API client."""
