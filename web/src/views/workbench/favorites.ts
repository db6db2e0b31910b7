// Favorite assets. The API has no favorite-assets endpoint and no user preference store yet
// (JumpServer's `/assets/favorite-assets/` and `/users/preference/` answer 404), so favorites
// are kept in this browser, per user. Each entry keeps the fields the list shows.
import { reactive } from 'vue'

export interface FavoriteAsset {
  id: string
  name: string
  address: string
  platform?: string
}

const key = (user: string) => `pc.favorites.${user}`

export const favorites = reactive({ user: '', items: [] as FavoriteAsset[] })

export function loadFavorites(user: string) {
  favorites.user = user
  try {
    const v = JSON.parse(localStorage.getItem(key(user)) || '[]')
    favorites.items = Array.isArray(v) ? v.filter((x) => x && typeof x.id === 'string') : []
  } catch {
    favorites.items = []
  }
}

export function isFavorite(id: string): boolean {
  return favorites.items.some((f) => f.id === id)
}

export function toggleFavorite(a: FavoriteAsset) {
  if (isFavorite(a.id)) favorites.items = favorites.items.filter((f) => f.id !== a.id)
  else favorites.items = [...favorites.items, { id: a.id, name: a.name, address: a.address, platform: a.platform }]
  if (favorites.user) localStorage.setItem(key(favorites.user), JSON.stringify(favorites.items))
}
