import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
application = get_wsgi_application()

if settings.LOAD_MODELS_AT_STARTUP:
    # Load and warm the model as the worker starts, so the first request is not the slow one and
    # a missing weight file stops the worker with a message naming it.
    from recognition.startup import warm_up

    warm_up()
