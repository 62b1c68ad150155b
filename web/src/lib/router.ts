// A small client-side router: /admin/<screen>[?quiz=…]. The gateway answers every /admin/*
// path with index.html, so a reload or a shared link lands on the same screen.
import { useEffect, useState } from 'react';

export const SCREENS = ['connection', 'catalogue', 'rules', 'deliveries'] as const;
export type Screen = (typeof SCREENS)[number];

const BASE = '/admin';

export interface Route {
  screen: Screen;
  params: URLSearchParams;
}

function current(): Route {
  const name = window.location.pathname.slice(BASE.length).replace(/^\/+|\/+$/g, '');
  const screen = (SCREENS as readonly string[]).includes(name) ? (name as Screen) : 'connection';
  return { screen, params: new URLSearchParams(window.location.search) };
}

const listeners = new Set<() => void>();

export function navigate(screen: Screen, params: Record<string, string> = {}): void {
  const search = new URLSearchParams(params).toString();
  history.pushState(null, '', `${BASE}/${screen}${search ? `?${search}` : ''}`);
  listeners.forEach((l) => l());
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

export const hrefOf = (screen: Screen, params: Record<string, string> = {}) => {
  const search = new URLSearchParams(params).toString();
  return `${BASE}/${screen}${search ? `?${search}` : ''}`;
};
