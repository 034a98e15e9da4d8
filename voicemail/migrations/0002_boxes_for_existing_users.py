"""Every user who had an extension before voicemail gets their box (new ones get it with the extension)."""

from django.db import migrations


def boxes_for_users(apps, schema_editor):
    Extension = apps.get_model("telephony", "Extension")
    Mailbox = apps.get_model("voicemail", "Mailbox")
    taken = set(Mailbox.objects.values_list("extension_id", flat=True))
    Mailbox.objects.bulk_create(
        Mailbox(extension_id=pk, number=number)
        for pk, number in Extension.objects.values_list("pk", "number")
        if pk not in taken
    )


class Migration(migrations.Migration):
    dependencies = [("voicemail", "0001_mailboxes_and_messages")]

    operations = [migrations.RunPython(boxes_for_users, migrations.RunPython.noop)]
