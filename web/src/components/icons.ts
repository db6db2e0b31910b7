// Icons used by menus (route meta.icon) by name. Add the ones your pages need here:
// importing only these keeps the bundle small (the full icon set is ~300 components).
import {
  User, UserFilled, Monitor, Platform, FolderOpened, VideoCamera, Tickets, Files, Key, Notebook, Stamp,
  Coin, Connection, Lock, CollectionTag, Box, Guide, Filter, Document, Odometer, Setting, Promotion, Share,
  Switch, Location, Cpu, DataLine, Warning,
} from '@element-plus/icons-vue'
import type { Component } from 'vue'

export const icons: Record<string, Component> = {
  User, UserFilled, Monitor, Platform, FolderOpened, VideoCamera, Tickets, Files, Key, Notebook, Stamp,
  Coin, Connection, Lock, CollectionTag, Box, Guide, Filter, Document, Odometer, Setting, Promotion, Share,
  Switch, Location, Cpu, DataLine, Warning,
}
