"""`crowdtune sandbox`: the real app against the Slack stand-in, played from a web page."""
