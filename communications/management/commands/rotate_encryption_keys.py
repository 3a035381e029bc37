from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from communications.services import passwords_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt the stored first-login passwords with the first key of "
        "FIELD_ENCRYPTION_KEYS. Run it after putting a new key first; then the old keys "
        "can be removed."
    )

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        try:
            count = passwords_rotate()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} password(s) re-encrypted with the first key.")
