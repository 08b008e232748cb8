"""Reference solutions of the lessons' exercises, one module per exercise, each a function
``solve(c)`` returning what the exercise asks for. Try first: these are the answers."""
