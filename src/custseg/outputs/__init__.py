"""What a run leaves on disk: atomic file writers and the run folder."""
