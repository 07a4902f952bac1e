"""The preprocessing stages; each reads the previous stage's folder and writes its own."""
