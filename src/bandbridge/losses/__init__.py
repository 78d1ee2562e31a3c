from bandbridge.losses.adversarial import ADVERSARIAL, gradient_penalty
from bandbridge.losses.reconstruction import masked_l1

__all__ = ["ADVERSARIAL", "gradient_penalty", "masked_l1"]
