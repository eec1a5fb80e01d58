"""kgagent's pytest plugin (entry point ``pytest11``): fixtures and assertions for users'
own integration tests. Being written (issue 23)."""
