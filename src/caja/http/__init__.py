"""The HTTP edge shared by the API surfaces and the web pages: reading request bodies,
writing JSON responses, and the middleware that gives each request an id, times it and
logs it. It knows no product and no surface."""
