"""The features, one middleware each: the invocation span, invocation metrics, the retry context."""
