import logging

from .vectors.indexes import get_vector_index
from .service import get_service

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Load the model, run one inference and load this process's index."""
    service = get_service()
    service.load()
    index = get_vector_index(service.model_key)
    index.sync()
    logger.info(
        "Ready: %s, %d vectors, threshold %.4f",
        service.model_key, index.count(), service.default_threshold,
    )
