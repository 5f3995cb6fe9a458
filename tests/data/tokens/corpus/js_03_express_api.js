const express = require('express');
const { randomUUID } = require('node:crypto');

const app = express();
app.use(express.json({ limit: '1mb' }));

// In-memory store; a real service would use a database.
const orders = new Map();

const VALID_STATUSES = new Set(['pending', 'paid', 'shipped', 'cancelled']);

function validateOrder(body) {
  const errors = [];
  if (typeof body.customerId !== 'string' || body.customerId.length === 0) {
    errors.push({ field: 'customerId', message: 'must be a non-empty string' });
  }
  if (!Array.isArray(body.lines) || body.lines.length === 0) {
    errors.push({ field: 'lines', message: 'must contain at least one line' });
  } else {
    body.lines.forEach((line, i) => {
      if (!Number.isInteger(line.quantity) || line.quantity <= 0) {
        errors.push({ field: `lines[${i}].quantity`, message: 'must be a positive integer' });
      }
      if (typeof line.sku !== 'string' || !/^[A-Z0-9-]{4,32}$/.test(line.sku)) {
        errors.push({ field: `lines[${i}].sku`, message: 'invalid SKU' });
      }
    });
  }
  return errors;
}

app.post('/orders', (req, res) => {
  const errors = validateOrder(req.body);
  if (errors.length > 0) {
    return res.status(422).json({ error: 'validation_failed', details: errors });
  }
  const id = randomUUID();
  const order = {
    id,
    customerId: req.body.customerId,
    lines: req.body.lines.map(({ sku, quantity }) => ({ sku, quantity })),
    status: 'pending',
    createdAt: new Date().toISOString(),
  };
  orders.set(id, order);
  res.status(201).location(`/orders/${id}`).json(order);
});

app.get('/orders/:id', (req, res) => {
  const order = orders.get(req.params.id);
  if (!order) {
    return res.status(404).json({ error: 'not_found' });
  }
  res.json(order);
});

app.patch('/orders/:id/status', (req, res) => {
  const order = orders.get(req.params.id);
  if (!order) {
    return res.status(404).json({ error: 'not_found' });
  }
  const { status } = req.body;
  if (!VALID_STATUSES.has(status)) {
    return res.status(422).json({ error: 'invalid_status', allowed: [...VALID_STATUSES] });
  }
  if (order.status === 'cancelled') {
    return res.status(409).json({ error: 'order_cancelled' });
  }
  order.status = status;
  order.updatedAt = new Date().toISOString();
  res.json(order);
});

app.get('/orders', (req, res) => {
  const { customerId, status } = req.query;
  const limit = Math.min(Number.parseInt(req.query.limit ?? '50', 10) || 50, 200);
  let result = [...orders.values()];
  if (customerId) result = result.filter((o) => o.customerId === customerId);
  if (status) result = result.filter((o) => o.status === status);
  result.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  res.json({ data: result.slice(0, limit), total: result.length });
});

app.use((err, req, res, _next) => {
  console.error('unhandled error', err);
  res.status(500).json({ error: 'internal' });
});

const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => {
  console.log(`orders API listening on http://127.0.0.1:${port}`);
});
