"""Tiny models and data for the integration tests (nothing downloaded)."""

import torch

D, K, N = 6, 3, 256


class TinyClassifier(torch.nn.Module):
    """A plain ``nn.Module`` the HF Trainer accepts: ``forward(x, labels)`` returns the loss."""

    def __init__(self, seed: int = 1):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, K)
        )

    def forward(self, x, labels=None):
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def data(n: int = N):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, D, generator=g)
    y = torch.randint(0, K, (n,), generator=g)
    return X, y


def hf_dataset(n: int = N):
    X, y = data(n)
    return [{"x": X[i], "labels": y[i]} for i in range(n)]


def hf_args(out, **kw):
    from transformers import TrainingArguments

    base = dict(
        output_dir=str(out),
        per_device_train_batch_size=8,
        learning_rate=0.05,
        max_steps=12,
        logging_steps=4,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        train_sampling_strategy="sequential",
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    base.update(kw)
    return TrainingArguments(**base)


def lightning_module(peak_lr=0.05, schedule=None, total_steps=None):
    import lightning.pytorch as pl

    from lrcore.integrations.lightning import scheduler_config

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = TinyClassifier()

        def training_step(self, batch, i):
            x, y = batch
            return self.model(x, y)["loss"]

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=peak_lr)
            if schedule is None:
                return opt
            return {"optimizer": opt, "lr_scheduler": scheduler_config(opt, schedule, total_steps)}

    return Module()


def loader(batch: int, n: int = N):
    X, y = data(n)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch)
