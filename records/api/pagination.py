"""GET /records pages: `?skip=&limit=`, answered as {"total_count", "records"} (the original contract)."""

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from .serializers import PageQuerySerializer


class SkipLimitPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        page = PageQuerySerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        skip, limit = page.validated_data["skip"], page.validated_data["limit"]
        self.total_count = queryset.count()
        return list(queryset[skip : skip + limit])

    def get_paginated_response(self, data):
        return Response({"total_count": self.total_count, "records": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["total_count", "records"],
            "properties": {
                "total_count": {
                    "type": "integer",
                    "description": "How many records there are in all.",
                    "example": 25,
                },
                "records": schema,  # an array of Record, oldest first
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = []
        for name, field in PageQuerySerializer().fields.items():
            schema = {"type": "integer", "minimum": field.min_value, "default": field.default}
            if field.max_value is not None:
                schema["maximum"] = field.max_value
            # `?skip=&limit=` (the original contract's own spelling) means the defaults.
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "allowEmptyValue": True,
                    "description": field.help_text,
                    "schema": schema,
                }
            )
        return parameters
