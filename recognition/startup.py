import logging

from .policy import MatchPolicy
from .service import get_service
from .vectors.indexes import get_vector_index

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Load the model, run one inference and load this process's index."""
    service = get_service()
    service.load()
    index = get_vector_index(service.model_key)
    index.sync()
    logger.info(
        "Ready: %s, %d vectors, threshold %.4f",
        service.model_key, index.count(), MatchPolicy.of(service.model_key).default_threshold,
    )
