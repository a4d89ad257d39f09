import logging

from .gallery import get_gallery
from .service import get_service

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Load the model, run one inference and load this process's index."""
    service = get_service()
    service.load()
    gallery = get_gallery(service.model_key)
    gallery.sync()
    logger.info(
        "Ready: %s, %d vectors, threshold %.4f",
        service.model_key, gallery.count(), service.default_threshold,
    )
