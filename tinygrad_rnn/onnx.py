"""``tg.onnx`` exists so that ``import torch.onnx`` works in a torch program run on this
package; exporting is not supported, and ``export`` says so."""


def export(model, args, f, *unused, **options):
    raise NotImplementedError("tinygrad_rnn cannot export ONNX: save the weights with tg.save(model.state_dict(), f) "
                              "and rebuild the model in PyTorch to export from there")
