import appactions
import azure.functions as func
import recording_ext

# In a v2 app a function-level extension binds to "function_app.py", which names no function, so
# its hooks never run (as in the worker).
UNMATCHED_FUNC_EXTENSION = recording_ext.FuncExtA(__file__)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="sync")
def sync_func(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return appactions.run_sync(req, context)


@app.route(route="async")
async def async_func(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await appactions.run_async(req, context)
