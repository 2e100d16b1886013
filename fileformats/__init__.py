"""Files this app writes and reads back: a turn's recording (JSON Lines) and a chat export (JSON).

They are their own package, not part of streaming/ or ui/: a file outlives the code that wrote it,
it comes back from anyone (uploads, examples), and both the UI and the HTTP side read it.
"""
