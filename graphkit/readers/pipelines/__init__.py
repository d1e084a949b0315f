"""Task pipelines other tools define: turbo.json and nx.json, read as graphkit tasks."""
