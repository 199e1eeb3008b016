import appactions
import recording_ext

FUNC_EXTENSIONS = [recording_ext.FuncExtA(__file__), recording_ext.FuncExtB(__file__)]


class AppError(Exception):
    """Defined inside the app, so only a process that loaded the app can import it."""


def main(req, context):
    if req.params.get("action") == "raise_app_error":
        raise AppError("bad thing")
    return appactions.run_sync(req, context)
