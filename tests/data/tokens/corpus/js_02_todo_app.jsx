import React, { useCallback, useEffect, useMemo, useReducer, useState } from 'react';

const STORAGE_KEY = 'todo-app:v2';

function reducer(state, action) {
  switch (action.type) {
    case 'add':
      return [...state, { id: crypto.randomUUID(), title: action.title, done: false, createdAt: Date.now() }];
    case 'toggle':
      return state.map((item) => (item.id === action.id ? { ...item, done: !item.done } : item));
    case 'rename':
      return state.map((item) => (item.id === action.id ? { ...item, title: action.title } : item));
    case 'remove':
      return state.filter((item) => item.id !== action.id);
    case 'clearDone':
      return state.filter((item) => !item.done);
    default:
      throw new Error(`Unknown action: ${action.type}`);
  }
}

function loadInitial() {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    return raw ? JSON.parse(raw) : [];
  } catch {
    return [];
  }
}

export default function TodoApp() {
  const [items, dispatch] = useReducer(reducer, undefined, loadInitial);
  const [draft, setDraft] = useState('');
  const [filter, setFilter] = useState('all');

  useEffect(() => {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(items));
  }, [items]);

  const visible = useMemo(() => {
    if (filter === 'open') return items.filter((i) => !i.done);
    if (filter === 'done') return items.filter((i) => i.done);
    return items;
  }, [items, filter]);

  const onSubmit = useCallback(
    (event) => {
      event.preventDefault();
      const title = draft.trim();
      if (!title) return;
      dispatch({ type: 'add', title });
      setDraft('');
    },
    [draft],
  );

  const remaining = items.filter((i) => !i.done).length;

  return (
    <main className="todo">
      <h1>Things to do</h1>
      <form onSubmit={onSubmit}>
        <input
          aria-label="New task"
          placeholder="What needs doing?"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <button type="submit" disabled={!draft.trim()}>
          Add
        </button>
      </form>
      <nav>
        {['all', 'open', 'done'].map((name) => (
          <button key={name} aria-pressed={filter === name} onClick={() => setFilter(name)}>
            {name}
          </button>
        ))}
      </nav>
      <ul>
        {visible.map((item) => (
          <li key={item.id} className={item.done ? 'done' : undefined}>
            <label>
              <input type="checkbox" checked={item.done} onChange={() => dispatch({ type: 'toggle', id: item.id })} />
              {item.title}
            </label>
            <button aria-label={`Delete ${item.title}`} onClick={() => dispatch({ type: 'remove', id: item.id })}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <footer>
        {remaining} {remaining === 1 ? 'item' : 'items'} left
        {items.some((i) => i.done) && <button onClick={() => dispatch({ type: 'clearDone' })}>Clear completed</button>}
      </footer>
    </main>
  );
}
