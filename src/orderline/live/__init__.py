"""Live tracking: committed changes fanned out to Server-Sent-Events subscribers, the dashboard."""
