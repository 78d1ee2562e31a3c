"""The small-data learners a user's own pairs are fitted with, and the choice among them."""
