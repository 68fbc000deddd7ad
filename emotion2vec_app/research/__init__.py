"""Research workflows on the one analysis core: utterance embeddings of a labelled set (cached
by file content), the metrics of the papers (WA, UA, macro-F1, confusion), and linear heads
trained on the embeddings. The CLI's `evaluate` and `train-head` and the WebUI's Evaluate tab
run here."""
