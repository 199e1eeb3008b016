import rwrecord
import rwwork

from funcscope import FunctionScope

from .. import shared_setup  # noqa: F401

# Function-level extensions run in registration order too: FuncFirst, funcscope's FunctionScope, FuncLast.
FUNC_FIRST = rwrecord.func_recorder("FuncFirst", __name__, __file__)
SCOPE = FunctionScope(__file__, attributes={"team": "v1"})
FUNC_LAST = rwrecord.func_recorder("FuncLast", __name__, __file__)


def main(req, context):
    return rwwork.run_sync(req, context)
