"""The supervisor's side: the wallboard, the agent board with its actions
(force a pause, force a logout, listen, whisper, barge), call recordings and
the reports' page."""
