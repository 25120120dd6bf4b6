import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from kexue import viz  # noqa: E402


def test_tile_images_places_each_image_in_its_cell():
    images = torch.arange(5 * 2 * 3, dtype=torch.float32).reshape(5, 2, 3)
    tiled = viz.tile_images(images, ncols=2, pad=1, pad_value=-1)
    assert tiled.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert np.array_equal(tiled[0:2, 0:3], images[0].numpy())
    assert np.array_equal(tiled[3:5, 4:7], images[3].numpy())
    assert np.array_equal(tiled[6:8, 0:3], images[4].numpy())
    assert (tiled[6:8, 4:7] == -1).all() and (tiled[2, :] == -1).all()  # empty cell, padding


def test_tile_images_accepts_flat_square_images_and_rejects_others():
    flat = np.random.default_rng(0).random((4, 16))
    assert viz.tile_images(flat, ncols=4, pad=0).shape == (4, 16)
    with pytest.raises(ValueError, match="must be square"):
        viz.tile_images(np.zeros((2, 15)))
    with pytest.raises(ValueError, match="non-empty"):
        viz.tile_images(np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        viz.tile_images(np.zeros((2, 4, 4)), ncols=0)


def test_image_grid_and_curves_draw():
    ax = viz.image_grid(torch.rand(12, 28, 28), ncols=6, title="digits")
    assert ax.get_title() == "digits" and len(ax.images) == 1
    ax = viz.curves({"train": [3, 2, 1], "test": [3.5, 2.5, 2]}, logy=True, ylabel="loss")
    assert [line.get_label() for line in ax.lines] == ["train", "test"] and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="no series"):
        viz.curves({})
    with pytest.raises(ValueError, match="has 3 points but x has 2"):
        viz.curves({"a": [1, 2, 3]}, x=[0, 1])
    plt.close("all")


def test_image_rows_label_each_row_and_check_their_lengths():
    rows = [torch.rand(5, 784), torch.rand(5, 28, 28) * 3]   # pixels beyond 1 are clipped
    fig, ax = plt.subplots()
    viz.image_rows(rows, ["a", "b"], ax=ax, title="t")
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    assert ax.images[0].get_array().max() <= 1.0
    assert ax.images[0].get_array().shape == (2 * 29 - 1, 5 * 29 - 1)
    with pytest.raises(ValueError, match="one length"):
        viz.image_rows([torch.rand(5, 784), torch.rand(4, 784)], ["a", "b"])
    with pytest.raises(ValueError, match="name each of the 2 rows"):
        viz.image_rows(rows, ["a"])
    plt.close(fig)
