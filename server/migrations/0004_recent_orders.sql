-- Recovery reads the finished orders a client_order_id retry may still name (the retry
-- window, a minute by default): index them by when they finished.
CREATE INDEX orders_done_with_client_id ON orders (updated_ts)
    WHERE client_order_id IS NOT NULL;
