"""French date and time formats where Django formats them itself (the Django admin, the
|date filter): one time style with the application's, « 8 h 00 », with no-break
spaces. The application's own pages and e-mails use spheres/dates.py (« 1er »)."""

DATE_FORMAT = "l j F Y"
TIME_FORMAT = "G\u00a0\\h\u00a0i"
DATETIME_FORMAT = "l j F Y à G\u00a0\\h\u00a0i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y G\u00a0\\h\u00a0i"
