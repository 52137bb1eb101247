"""The sparse form of IMDB's logistic regression step (optim.sparsebench) against the dense one."""

import torch
import torch.nn.functional as F

from optim import sparsebench


def test_the_sparse_step_computes_the_dense_steps_logits_and_gradients():
    torch.manual_seed(0)
    x = (torch.rand(6, 1, 1, 40) < 0.2).to(torch.uint8) * 255
    y = torch.randint(2, (6,))
    linear = torch.nn.Linear(40, 2)
    words, offsets = sparsebench.bags(x)
    assert words.tolist() == x.reshape(6, -1).nonzero()[:, 1].tolist()
    assert offsets.tolist() == [0, *torch.cumsum((x.reshape(6, -1) > 0).sum(1), 0)[:-1].tolist()]
    kept = torch.rand(words.shape) >= 0.5
    mask = torch.zeros(6, 40, dtype=torch.bool)  # the same kept words, as a dense mask
    mask[x.reshape(6, -1).nonzero(as_tuple=True)] = kept
    grads = []
    for logits in (lambda w, b: sparsebench.dense_logits((x.reshape(6, -1) > 0).float(), mask, w, b, 0.5),
                   lambda w, b: sparsebench.sparse_logits(words, offsets, kept, w, b, 0.5)):
        w, b = linear.weight.detach().clone().requires_grad_(), linear.bias.detach().clone().requires_grad_()
        out = logits(w, b)
        F.cross_entropy(out, y).backward()
        grads.append((out.detach(), w.grad, b.grad))
    for dense, sparse in zip(*grads):
        torch.testing.assert_close(sparse, dense)
    by_hand = torch.stack([linear.weight[:, mask[i]].sum(1) * 2 for i in range(6)]) + linear.bias
    torch.testing.assert_close(grads[0][0], by_hand.detach())


def test_the_step_times_are_measured_for_both_forms():
    x = (torch.rand(64, 1, 1, 100) < 0.05).to(torch.uint8) * 255
    seconds = sparsebench.step_times(x, torch.randint(2, (64,)), batch_size=16, steps=3)
    assert set(seconds) == {"dense", "sparse"} and all(s > 0 for s in seconds.values())
