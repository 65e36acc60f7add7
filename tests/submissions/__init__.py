"""Student submissions written for testing the grader: ``from submissions.corpus import build, SUBMISSIONS``."""
