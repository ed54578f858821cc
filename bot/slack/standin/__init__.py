"""A local stand-in for Slack: the Web API and Socket Mode as real servers on 127.0.0.1.

The tests and `crowdtune sandbox` both use it; the real slack_sdk client reaches it by base URL.
"""
