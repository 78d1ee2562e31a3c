from bandbridge.losses.adversarial import ADVERSARIAL, gradient_penalty
from bandbridge.losses.reconstruction import masked_l1
from bandbridge.losses.spectral import histogram_emd, index_l1

__all__ = ["ADVERSARIAL", "gradient_penalty", "histogram_emd", "index_l1", "masked_l1"]
