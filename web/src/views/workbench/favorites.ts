// Favorite assets, kept on the server (`/assets/favorite-assets/`): this holds the ids of the
// caller's bookmarks so the star in every list can show and flip them. The favorites list itself
// is the server's `/perms/users/self/nodes/favorite/assets/` (only assets still granted).
import { reactive } from 'vue'
import { api } from '@/api/client'

const URL = 'assets/favorite-assets/'

interface Bookmark {
  id: string
  asset: string
}

export const favorites = reactive({ ids: [] as string[] })

/** Reads the caller's bookmarks (all of them, one page large enough). */
export async function loadFavorites() {
  const r = await api.get<Bookmark[] | { results: Bookmark[] }>(URL, { limit: 10000 })
  const rows = Array.isArray(r) ? r : r?.results || []
  favorites.ids = rows.map((b) => b.asset)
}

export function isFavorite(id: string): boolean {
  return favorites.ids.includes(id)
}

/** Bookmarks or un-bookmarks one asset on the server; the local ids follow the answer. */
export async function toggleFavorite(id: string) {
  if (isFavorite(id)) {
    await api.delete(URL, { query: { asset: id } })
    favorites.ids = favorites.ids.filter((x) => x !== id)
  } else {
    await api.post(URL, { asset: id })
    favorites.ids = [...favorites.ids, id]
  }
}
