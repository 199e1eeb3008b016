import appactions
import recording_ext

FUNC_EXTENSIONS = [recording_ext.FuncExtA(__file__), recording_ext.FuncExtB(__file__)]


async def main(req, context):
    return await appactions.run_async(req, context)
