"""The site's 500 handler (facesite/urls.py): a dependency that is down (records/unavailable.py) is
a 503 with Retry-After wherever it fails, in a view or in a middleware (a session, an API key or the
throttle's file cache read); any other error keeps Django's 500 page, without a traceback."""

import sys

from django.views import defaults

from records.unavailable import dependency_down, unavailable_response


def server_error(request):
    # Django calls the handler inside its `except` block, so the exception is the one being handled.
    dependency = dependency_down(sys.exc_info()[1])
    if dependency is None:
        return defaults.server_error(request)
    return unavailable_response(dependency)
