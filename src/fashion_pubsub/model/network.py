"""The classifier: a compact CNN that takes raw pixels 0-255 and normalises them itself.

Clients of the old design send uint8 values, so scaling lives inside the model
(its first layer), not in every client.
"""

from typing import Any

INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
INPUT_SHAPE = (28, 28, 1)


def build_network(dropout: float = 0.25, dense_units: int = 128, stage3_filters: int = 0) -> Any:
    """conv32 -> pool -> conv64 x2 -> pool -> [conv at 7x7] -> dense -> softmax(10),
    batch norm throughout.

    Two conv blocks with batch norm and dropout are the usual way to pass 0.93 on
    Fashion-MNIST; keeping the first block to one conv halves training time on CPU.

    Args:
        dropout: dropout rate after the last convolution.
        dense_units: width of the hidden dense layer (cheap to run: one multiply per weight).
        stage3_filters: filters of an extra 3x3 convolution on the 7x7 map (0: none); at 7x7
            a convolution costs a quarter of one at 14x14.
    """
    import keras
    from keras import layers

    inputs = keras.Input(INPUT_SHAPE, name=INPUT_NAME)
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    x = _conv_block(x, 32, convs=1)
    x = _conv_block(x, 64, convs=2)
    if stage3_filters:
        x = _convs(x, stage3_filters, convs=1)
    x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(10, activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="fashion_cnn")


def _conv_block(x: Any, filters: int, convs: int) -> Any:
    from keras import layers

    return layers.MaxPooling2D()(_convs(x, filters, convs))


def _convs(x: Any, filters: int, convs: int) -> Any:
    from keras import layers

    for _ in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    return x
