"""The seed's sample data (3 users, 2 threads, 2 posts), in the json-server shape `import` reads."""

from __future__ import annotations

from typing import Any

AT = "2024-11-23T10:00:00Z"
SAMPLE: dict[str, list[Any]] = {
    "users": [
        {"userId": "1", "name": "Alice Johnson", "email": "alice@example.com", "createdAt": AT},
        {"userId": "2", "name": "Bob Smith", "email": "bob@example.com", "createdAt": AT},
        {"userId": "3", "name": "Charlie Brown", "email": "charlie@example.com", "createdAt": AT},
    ],
    "threads": [
        {
            "threadId": "1",
            "title": "Welcome to the forum",
            "description": "Introduce yourself here",
            "userId": "1",
            "createdAt": "2024-11-23T10:05:00Z",
        },
        {
            "threadId": "2",
            "title": "DynamoDB tips",
            "description": "Share what you learned about single-digit millisecond reads",
            "userId": "2",
            "createdAt": "2024-11-23T10:10:00Z",
        },
    ],
    "posts": [
        {
            "postId": "1",
            "threadId": "1",
            "userId": "1",
            "title": "Hello everyone",
            "content": "Glad to be here!",
            "createdAt": "2024-11-23T10:15:00Z",
        },
        {
            "postId": "2",
            "threadId": "2",
            "userId": "2",
            "title": "Use a GSI",
            "content": "Query an index instead of scanning the table.",
            "createdAt": "2024-11-23T10:20:00Z",
        },
    ],
}
