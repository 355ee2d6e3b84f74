"""Training, evaluating and exporting the Fashion-MNIST classifier. Only this package
imports TensorFlow (the optional `train` extra), and only inside functions."""
