"""Calls the hotline places itself: callbacks that keep the caller's place,
callbacks to callers who gave up, follow-up calls after service, surveys and
survey campaigns; and the one dialling policy they all obey (business hours,
holidays, retries, the do-not-call list)."""
