"""The forum: users, threads and posts with DynamoDB as the only database (DESIGN §11)."""
