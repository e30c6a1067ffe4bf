# refreshd/: filled in by its issue.
