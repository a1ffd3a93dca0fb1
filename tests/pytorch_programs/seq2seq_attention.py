"""Seq2seq GRU encoder / attention decoder that learns to reverse short token sequences.

One pair at a time, teacher forcing chosen by random.random(), greedy decoding under no_grad.
Prints `RESULT first=<loss> last=<loss> acc=<token accuracy>`.
"""
import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

torch.manual_seed(1)
random.seed(1)
SOS, EOS, VOCAB, MAX_LEN, HIDDEN = 0, 1, 8, 6, 32


class Encoder(nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.hidden_size = hidden
        self.embedding = nn.Embedding(vocab, hidden)
        self.gru = nn.GRU(hidden, hidden)

    def forward(self, token, hidden):
        embedded = self.embedding(token).view(1, 1, -1)
        return self.gru(embedded, hidden)

    def init_hidden(self):
        return torch.zeros(1, 1, self.hidden_size)


class AttnDecoder(nn.Module):
    def __init__(self, hidden, vocab, max_len):
        super().__init__()
        self.embedding = nn.Embedding(vocab, hidden)
        self.attn = nn.Linear(hidden * 2, max_len)
        self.combine = nn.Linear(hidden * 2, hidden)
        self.dropout = nn.Dropout(0.1)
        self.gru = nn.GRU(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, token, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(token).view(1, 1, -1))
        weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
        context = torch.bmm(weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
        x = F.relu(self.combine(torch.cat((embedded[0], context[0]), 1)).unsqueeze(0))
        output, hidden = self.gru(x, hidden)
        return F.log_softmax(self.out(output[0]), dim=1), hidden, weights


def encode(encoder, source):
    hidden = encoder.init_hidden()
    outputs = torch.zeros(MAX_LEN, encoder.hidden_size)
    for i in range(source.size(0)):
        out, hidden = encoder(source[i], hidden)
        outputs[i] = out[0, 0]
    return outputs, hidden


def train_pair(source, target, encoder, decoder, enc_opt, dec_opt, criterion, forcing=0.5):
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    outputs, hidden = encode(encoder, source)
    token, loss = torch.tensor([[SOS]]), 0
    use_forcing = random.random() < forcing
    for i in range(target.size(0)):
        out, hidden, _ = decoder(token, hidden, outputs)
        loss += criterion(out, target[i])
        if use_forcing:
            token = target[i]
        else:
            _, top_i = out.topk(1)
            token = top_i.squeeze().detach()
    loss.backward()
    enc_opt.step()
    dec_opt.step()
    return loss.item() / target.size(0)


def random_pair():
    seq = [random.randint(2, VOCAB - 1) for _ in range(random.randint(2, MAX_LEN - 1))]
    source = torch.tensor(seq + [EOS], dtype=torch.long).view(-1, 1)
    target = torch.tensor(seq[::-1] + [EOS], dtype=torch.long).view(-1, 1)
    return source, target


def greedy(encoder, decoder, source, length):
    with torch.no_grad():
        outputs, hidden = encode(encoder, source)
        token, words = torch.tensor([[SOS]]), []
        for _ in range(length):
            out, hidden, _ = decoder(token, hidden, outputs)
            _, top_i = out.data.topk(1)
            words.append(top_i.item())
            token = top_i.squeeze().detach()
        return words


encoder, decoder = Encoder(VOCAB, HIDDEN), AttnDecoder(HIDDEN, VOCAB, MAX_LEN)
enc_opt = optim.SGD(encoder.parameters(), lr=0.05)
dec_opt = optim.SGD(decoder.parameters(), lr=0.05)
criterion = nn.NLLLoss()
losses, window = [], 0.0
for it in range(1, 1201):
    source, target = random_pair()
    window += train_pair(source, target, encoder, decoder, enc_opt, dec_opt, criterion)
    if it % 200 == 0:
        losses.append(window / 200)
        window = 0.0

encoder.eval()
decoder.eval()
right = total = 0
for _ in range(50):
    source, target = random_pair()
    words = greedy(encoder, decoder, source, target.size(0))
    right += sum(int(w == t) for w, t in zip(words, target.view(-1).tolist()))
    total += target.size(0)
print(f"RESULT first={losses[0]:.4f} last={losses[-1]:.4f} acc={right / total:.3f}")
