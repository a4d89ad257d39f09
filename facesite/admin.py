class ReadOnlyAdmin:
    """For rows the system writes itself (index bookkeeping, the audit log): shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
